//! depin-chains integration tests.
