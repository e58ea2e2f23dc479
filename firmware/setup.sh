#!/usr/bin/env bash
# Install what the firmware build and depin-device/tests/qemu.rs need:
# the Cortex-M3 Rust target and QEMU's ARM system emulator (Debian package).
set -euo pipefail
if ! rustup target list --installed | grep -qx thumbv7m-none-eabi; then
    rustup target add thumbv7m-none-eabi
fi
if ! command -v qemu-system-arm >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends qemu-system-arm
fi
qemu-system-arm --version | head -n1
