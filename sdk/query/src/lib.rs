//! placeholder, written by the query helper
