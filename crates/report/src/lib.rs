//! The results of a run, and what a reader sees of them.
//!
//! # Layout
//! - [`model`]: the types `summary.json` holds. load-gen fills them in; everything here reads
//!   them back.
//!
//! Data arrives as a results folder (`summary.json` plus one `.hlog` per transport) written by
//! load-gen.

pub mod model;
