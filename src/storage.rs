//! (module storage)
