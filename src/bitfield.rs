//! (module bitfield)
