//! The conformance suite every backend runs unchanged (work in progress).
