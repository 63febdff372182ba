//! (module layout)
