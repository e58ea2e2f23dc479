//! depin-device (work in progress).
#![no_std]
