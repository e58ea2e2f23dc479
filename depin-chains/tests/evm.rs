//! Integration tests of the EVM backend against a real anvil node (work in progress).
