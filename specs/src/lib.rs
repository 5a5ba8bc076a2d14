//! Abstract specifications from the literature, as stateright `Model`s that mirror their TLA+
//! originals variable for variable, so that a reader can hold the two side by side.
