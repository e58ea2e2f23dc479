//! `NorFlashStorage` against a simulated NOR flash that loses power at every program and
//! erase step, with torn writes and torn erases, for write sizes 1, 2, 4 and 8.
//!
//! The simulation follows NOR physics: programming can only clear bits, erasing sets a
//! whole erase page to `0xff`, and a cut-off operation leaves a random part of its bit
//! changes done. Programming a unit that is not erased is counted as a violation (the
//! storage must never do it).

use depin_device::counter::{
    CounterStorage, ErrorKind, NorFlashStorage, SequenceCounter, RECORD_LEN,
};
use depin_device::Error;
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};

const ERASE: usize = 64;
/// Two 64-byte pages (8 records each) after 64 bytes of other data.
const BASE: u32 = 64;
const PAGE: u32 = 64;
const CAPACITY: usize = 64 * 4;

/// Deterministic xorshift64*, so every failure replays from its seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

#[derive(Debug, Clone)]
struct SimFlash<const W: usize> {
    mem: Vec<u8>,
    /// Operations (one per programmed `W`-byte unit, one per erased page) left before the
    /// power fails; `None`: never.
    budget: Option<usize>,
    dead: bool,
    ops: usize,
    violations: usize,
    rng: Rng,
}

impl<const W: usize> SimFlash<W> {
    fn blank(seed: u64) -> Self {
        SimFlash {
            mem: vec![0xff; CAPACITY],
            budget: None,
            dead: false,
            ops: 0,
            violations: 0,
            rng: Rng(seed | 1),
        }
    }

    /// Count one operation; `true` if the power fails during it.
    fn op(&mut self) -> bool {
        self.ops += 1;
        match self.budget.as_mut() {
            Some(0) => {
                self.dead = true;
                true
            }
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        }
    }

    /// Power comes back: RAM state is gone, flash keeps what it holds.
    fn reboot(mut self) -> Self {
        self.dead = false;
        self.budget = None;
        self
    }
}

impl<const W: usize> ErrorType for SimFlash<W> {
    type Error = NorFlashErrorKind;
}

impl<const W: usize> ReadNorFlash for SimFlash<W> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.dead {
            return Err(NorFlashErrorKind::Other);
        }
        let at = offset as usize;
        let src = self
            .mem
            .get(at..at + bytes.len())
            .ok_or(NorFlashErrorKind::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const W: usize> NorFlash for SimFlash<W> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if self.dead {
            return Err(NorFlashErrorKind::Other);
        }
        let (from, to) = (from as usize, to as usize);
        if from % ERASE != 0 || to % ERASE != 0 || from > to {
            return Err(NorFlashErrorKind::NotAligned);
        }
        if to > self.mem.len() {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        for page in (from..to).step_by(ERASE) {
            if self.op() {
                // torn erase: some bits of the page went to 1, others not yet
                for i in page..page + ERASE {
                    let set = self.rng.byte();
                    self.mem[i] |= set;
                }
                return Err(NorFlashErrorKind::Other);
            }
            self.mem[page..page + ERASE].fill(0xff);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        if self.dead {
            return Err(NorFlashErrorKind::Other);
        }
        let at = offset as usize;
        if !at.is_multiple_of(W) || !bytes.len().is_multiple_of(W) {
            return Err(NorFlashErrorKind::NotAligned);
        }
        if at + bytes.len() > self.mem.len() {
            return Err(NorFlashErrorKind::OutOfBounds);
        }
        for (u, unit) in bytes.chunks(W).enumerate() {
            let start = at + u * W;
            if self.mem[start..start + W].iter().any(|&b| b != 0xff) {
                self.violations += 1;
            }
            if self.op() {
                // torn program: some of the bits to clear were cleared, others not
                for (i, &b) in unit.iter().enumerate() {
                    let keep = self.rng.byte();
                    self.mem[start + i] &= b | keep;
                }
                return Err(NorFlashErrorKind::Other);
            }
            for (i, &b) in unit.iter().enumerate() {
                self.mem[start + i] &= b;
            }
        }
        Ok(())
    }
}

fn storage<const W: usize>(flash: SimFlash<W>) -> NorFlashStorage<SimFlash<W>> {
    NorFlashStorage::new(flash, BASE, PAGE).unwrap()
}

/// Store increasing values from `start` until the power fails after `cut` operations
/// (or `count` values are stored). Returns the flash, the last value acknowledged and
/// the value in flight when the power failed.
fn store_until_cut<const W: usize>(
    flash: SimFlash<W>,
    cut: usize,
    count: usize,
    rng: &mut Rng,
) -> (SimFlash<W>, Option<u32>, Option<u32>) {
    let mut s = storage(flash);
    let mut acked = s.load().unwrap();
    let mut flash = s.into_flash();
    flash.budget = Some(cut);
    let mut s = storage(flash);
    let mut in_flight = None;
    for _ in 0..count {
        let v = acked.map_or(0, |a| a + 1 + (rng.next() % 5) as u32);
        match s.store(v) {
            Ok(()) => acked = Some(v),
            Err(kind) => {
                assert_eq!(kind, ErrorKind::Write);
                in_flight = Some(v);
                break;
            }
        }
    }
    (s.into_flash(), acked, in_flight)
}

/// For one write size: a power cut at every operation of a 40-store run (five page
/// switches), each from several seeds; after the reboot `load` returns the last
/// acknowledged value or the one in flight, and storing goes on correctly.
fn every_cut_point<const W: usize>() {
    let mut rng = Rng(0x5eed);
    // operations of an uncut run: the cut points to try
    let (probe, _, _) = store_until_cut(SimFlash::<W>::blank(1), usize::MAX, 40, &mut rng);
    let total = probe.ops;
    assert_eq!(probe.violations, 0);
    assert!(
        total >= 40 * (RECORD_LEN / W),
        "{total} ops for 40 stores of {W}"
    );
    for seed in 1..=12u64 {
        for cut in 0..=total {
            let mut rng = Rng(seed * 7919 + cut as u64);
            let (flash, acked, in_flight) =
                store_until_cut(SimFlash::<W>::blank(seed + cut as u64), cut, 40, &mut rng);
            let mut s = storage(flash.reboot());
            let loaded = s.load().unwrap();
            assert!(
                loaded == acked || (in_flight.is_some() && loaded == in_flight),
                "W={W} seed={seed} cut={cut}: loaded {loaded:?}, acked {acked:?}, in flight {in_flight:?}"
            );
            // it goes on: more stores after the reboot, each read back
            let mut last = loaded;
            for _ in 0..12 {
                let v = last.map_or(0, |l| l + 1);
                s.store(v).unwrap();
                assert_eq!(s.load().unwrap(), Some(v));
                last = Some(v);
            }
            let flash = s.into_flash();
            assert_eq!(
                flash.violations, 0,
                "W={W} seed={seed} cut={cut}: programmed over a unit that was not erased"
            );
        }
    }
}

#[test]
fn a_power_cut_at_every_step_keeps_the_old_or_the_new_value_w1() {
    every_cut_point::<1>();
}

#[test]
fn a_power_cut_at_every_step_keeps_the_old_or_the_new_value_w2() {
    every_cut_point::<2>();
}

#[test]
fn a_power_cut_at_every_step_keeps_the_old_or_the_new_value_w4() {
    every_cut_point::<4>();
}

#[test]
fn a_power_cut_at_every_step_keeps_the_old_or_the_new_value_w8() {
    every_cut_point::<8>();
}

/// A device that reboots after many power cuts in a row, at random points, including
/// cuts during recovery: every sequence number handed out over all its lives is larger
/// than every one before it.
#[test]
fn sequence_numbers_never_repeat_across_hundreds_of_random_power_cuts() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed);
        let mut flash = SimFlash::<4>::blank(seed);
        let mut handed_out: Vec<u32> = Vec::new();
        for life in 0..150 {
            flash.budget = Some((rng.next() % 40) as usize);
            let storage = match NorFlashStorage::new(flash, BASE, PAGE) {
                Ok(s) => s,
                Err(e) => panic!("layout: {e}"),
            };
            let block = 1 + (rng.next() % 4) as u32;
            // reads take no power budget here, so the boot itself always succeeds
            let mut counter = SequenceCounter::new(storage, block).unwrap();
            while let Ok(seq) = counter.next_seq() {
                if let Some(&prev) = handed_out.last() {
                    assert!(seq > prev, "seed {seed} life {life}: {seq} after {prev}");
                }
                handed_out.push(seq);
            }
            flash = counter.into_storage().into_flash();
            assert_eq!(flash.violations, 0);
            flash = flash.reboot();
        }
        assert!(handed_out.len() > 500, "seed {seed}: {}", handed_out.len());
    }
}

#[test]
fn blank_flash_loads_nothing_and_unerased_garbage_is_skipped() {
    let mut s = storage(SimFlash::<4>::blank(3));
    assert_eq!(s.load().unwrap(), None);
    // factory flash that is not erased (all zeros: no slot is a valid record): the first
    // store moves to the other page, erasing it first
    let mut flash = SimFlash::<4>::blank(3);
    flash.mem.fill(0);
    let mut s = storage(flash);
    assert_eq!(s.load().unwrap(), None);
    s.store(7).unwrap();
    assert_eq!(s.load().unwrap(), Some(7));
    let flash = s.into_flash();
    assert_eq!(flash.violations, 0);
    assert_eq!(
        &flash.mem[..BASE as usize],
        &[0u8; BASE as usize][..],
        "bytes outside the two pages are never touched"
    );
    let mut s = storage(flash.reboot());
    assert_eq!(s.load().unwrap(), Some(7));
}

#[test]
fn values_must_increase() {
    let mut s = storage(SimFlash::<4>::blank(5));
    s.store(10).unwrap();
    assert_eq!(s.store(10), Err(ErrorKind::NotIncreasing));
    assert_eq!(s.store(3), Err(ErrorKind::NotIncreasing));
    assert_eq!(s.load().unwrap(), Some(10));
    s.store(11).unwrap();
    assert_eq!(s.load().unwrap(), Some(11));
}

#[test]
fn wear_is_one_erase_per_page_of_records() {
    let mut s = storage(SimFlash::<8>::blank(9));
    for v in 1..=8 * 10 {
        s.store(v).unwrap();
    }
    // 80 records, 8 per page: 10 pages filled, 9 switches, each erasing the other page
    // except the first (blank) one
    let flash = s.into_flash();
    assert_eq!(flash.ops, 80 + 8);
    let mut s = storage(flash.reboot());
    assert_eq!(s.load().unwrap(), Some(80));
}

#[test]
fn layouts_that_do_not_fit_are_typed_errors() {
    let f = || SimFlash::<4>::blank(1);
    let layout = |r: Result<NorFlashStorage<SimFlash<4>>, Error>| match r {
        Err(Error::FlashLayout(rule)) => rule,
        other => panic!("expected a layout error, got {other:?}"),
    };
    assert!(layout(NorFlashStorage::new(f(), 32, 64)).contains("multiples of the erase size"));
    assert!(layout(NorFlashStorage::new(f(), 0, 96)).contains("multiples of the erase size"));
    assert!(layout(NorFlashStorage::new(f(), 192, 64)).contains("capacity"));
    assert!(layout(NorFlashStorage::new(f(), u32::MAX - 63, 64)).contains("u32"));
    assert!(NorFlashStorage::new(f(), 128, 64).is_ok());
    assert_eq!(Error::FlashLayout("x").code(), 17);
}
