#!/usr/bin/env bash
# Install what the firmware builds and depin-device/tests/qemu.rs need: the Cortex-M3 and
# RV32IMAC Rust targets and QEMU's ARM and RISC-V system emulators (Debian packages).
set -euo pipefail
for t in thumbv7m-none-eabi riscv32imac-unknown-none-elf; do
    if ! rustup target list --installed | grep -qx "$t"; then
        rustup target add "$t"
    fi
done
need=()
command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
command -v qemu-system-riscv32 >/dev/null 2>&1 || need+=(qemu-system-misc)
if [ "${#need[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update
    if ! $SUDO apt-get install -y --no-install-recommends "${need[@]}"; then
        # a newer qemu-utils from bookworm-backports Breaks the stable emulators: take them
        # from backports too (what ../scripts/test does)
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            | $SUDO tee /etc/apt/sources.list.d/depin-bookworm-backports.sources >/dev/null
        $SUDO apt-get update
        $SUDO apt-get install -y --no-install-recommends -t bookworm-backports "${need[@]}"
    fi
fi
qemu-system-arm --version | head -n1
qemu-system-riscv32 --version | head -n1
