//! placeholder, written by the doubles helper
