//! A depin-rs device firmware to start from. Portable part: what the device does. The
//! board-specific part (start-up, console, timer) is in `board/`, one file per target.
//!
//! At every boot it prints, one line each:
//!
//! ```text
//! PUBKEY <hex: the device's compressed P-256 public key>
//! FRAME <hex: a signed report frame>            (twice)
//! FRAGMENT <hex: one 11-byte LoRaWAN uplink>    (per fragment of each frame)
//! ERROR <code> <name>                           (instead, if something failed)
//! ```

#![no_std]
#![no_main]

mod board;
mod clock;
mod ram_flash;

use depin_device::counter::{NorFlashStorage, SequenceCounter};
use depin_device::fragment::Fragmenter;
use depin_device::frame::MAX_FRAME_LEN;
use depin_device::signer::{P256Signer, Signer};
use depin_device::{Domain, NetworkId, Reporter};

/// Your network's id. The signing domain binds every signature to it, so a frame for
/// another network never verifies on yours.
const NETWORK_ID: &str = "my-network";
/// The message kind of the report (your network's numbering).
const KIND: u8 = 1;
/// Bytes per radio uplink: LoRaWAN US915 DR0 carries 11.
const RADIO_PAYLOAD: usize = 11;
/// Sequence numbers reserved per flash write (wear: one write per 64 reports).
const COUNTER_BLOCK: u32 = 64;
/// The counter's two flash pages: offset and page size, as your flash driver counts them
/// (a multiple of its erase size).
const COUNTER_BASE: u32 = 0;
const COUNTER_PAGE: u32 = ram_flash::PAGE;

/// TEST KEY ONLY, so the host test can check the frames. A real device creates its key at
/// provisioning and keeps it in protected storage, or uses a secure element through your
/// own `depin_device::signer::Signer` implementation.
const DEVICE_SECRET: [u8; 32] = *b"my-depin-firmware TEST KEY ONLY!";

/// Something that prints bytes: semihosting, a UART, RTT.
pub trait Console {
    /// Write all of `bytes`.
    fn write(&mut self, bytes: &[u8]);
}

fn hex(out: &mut dyn Console, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        let pair = [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]];
        out.write(&pair);
    }
}

fn decimal(out: &mut dyn Console, mut v: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.write(&digits[i..]);
}

/// The device's work: sign two readings, print them and their radio fragments.
fn run(out: &mut dyn Console) -> Result<(), depin_device::Error> {
    let signer = P256Signer::from_secret(&DEVICE_SECRET)?;
    out.write(b"PUBKEY ");
    hex(out, signer.device_id().key_bytes());
    out.write(b"\n");

    // Sequence numbers survive reboots and power cuts: two pages of NOR flash. Replace
    // RamFlash with your HAL's flash driver (anything implementing embedded-storage's
    // NorFlash: embassy, esp-hal, nrf-hal and stm32 HALs do).
    let storage = NorFlashStorage::new(ram_flash::RamFlash::new(), COUNTER_BASE, COUNTER_PAGE)?;
    let counter = SequenceCounter::new(storage, COUNTER_BLOCK)?;
    let domain = Domain::new(NetworkId::new(NETWORK_ID)?);
    let mut reporter = Reporter::new(signer, counter, domain);

    // Frames carry unix-millisecond time and the network accepts them only inside its
    // freshness window: clock.rs says how a device without a real-time clock gets it.
    let clock = clock::Clock::synced(clock::SYNCED_UNIX_MS, board::uptime_ms());

    let mut frame = [0u8; MAX_FRAME_LEN];
    for reading in [b"temp=21.5C".as_slice(), b"temp=21.7C".as_slice()] {
        let report = reporter.report(KIND, clock.now(board::uptime_ms()), reading, &mut frame)?;
        let signed = frame.get(..report.len).unwrap_or(&[]);
        out.write(b"FRAME ");
        hex(out, signed);
        out.write(b"\n");

        let mut fragments = Fragmenter::for_frame(signed, RADIO_PAYLOAD)?;
        let mut radio = [0u8; RADIO_PAYLOAD];
        while let Some(len) = fragments.next_into(&mut radio)? {
            // ... your radio driver sends radio[..len] here ...
            out.write(b"FRAGMENT ");
            hex(out, radio.get(..len).unwrap_or(&[]));
            out.write(b"\n");
        }
    }
    Ok(())
}

/// Called by the board's entry point; returns whether all went well.
pub fn app(out: &mut dyn Console) -> bool {
    match run(out) {
        Ok(()) => true,
        Err(e) => {
            // a stable code and a static name: no formatting code in flash
            out.write(b"ERROR ");
            decimal(out, e.code());
            out.write(b" ");
            out.write(e.name().as_bytes());
            out.write(b"\n");
            false
        }
    }
}
