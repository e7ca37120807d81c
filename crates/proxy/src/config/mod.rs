//! haproxy.cfg: the file syntax, the keywords dermaga implements, and the model they produce.
//!
//! The model ([`model`]) is the contract with the data path; it is re-exported here.

pub mod model;

pub use model::*;
