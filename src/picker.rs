//! (module picker)
