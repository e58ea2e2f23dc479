//! Tests of the Cosmos backend that need no node (work in progress).
