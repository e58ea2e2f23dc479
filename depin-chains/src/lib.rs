//! depin-chains (work in progress).
#![no_std]
