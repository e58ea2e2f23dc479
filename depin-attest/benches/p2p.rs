//! p2p bench placeholder.
fn main() {}
