//! [`CounterStorage`] on two pages of NOR flash.

use embedded_storage::nor_flash::NorFlash;

use super::{CounterStorage, ErrorKind, ErrorType};
use crate::error::{Error, Result};

/// Bytes of one record: the value and its bitwise complement, both little-endian `u32`.
pub const RECORD_LEN: usize = 8;
/// `RECORD_LEN` as a flash offset.
const RECORD: u32 = RECORD_LEN as u32;

/// What a record slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// All bytes `0xff`: never programmed since the last erase.
    Erased,
    /// A complete record.
    Value(u32),
    /// Programmed but not a record: a write or an erase that power cut short.
    Torn,
}

fn decode(bytes: &[u8; RECORD_LEN]) -> Slot {
    if bytes.iter().all(|&b| b == 0xff) {
        return Slot::Erased;
    }
    let [a, b, c, d, e, f, g, h] = *bytes;
    let value = u32::from_le_bytes([a, b, c, d]);
    let check = u32::from_le_bytes([e, f, g, h]);
    if check == !value {
        Slot::Value(value)
    } else {
        Slot::Torn
    }
}

fn encode(value: u32) -> [u8; RECORD_LEN] {
    let [a, b, c, d] = value.to_le_bytes();
    let [e, f, g, h] = (!value).to_le_bytes();
    [a, b, c, d, e, f, g, h]
}

/// Where the next record goes, found by scanning both pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    /// The page holding the largest value (page 0 on blank flash).
    active: u32,
    /// The first slot of `active` after its last programmed one.
    next_slot: u32,
    /// Whether the other page reads fully erased.
    other_erased: bool,
    /// The largest valid value on either page.
    newest: Option<u32>,
}

/// A [`CounterStorage`] on two erase pages of NOR flash, through the
/// [`embedded_storage::nor_flash::NorFlash`] trait flash HALs implement.
///
/// # Layout and algorithm
///
/// Two pages of `page_size` bytes each (a multiple of the flash's erase size), the
/// second right after the first. Each page is a row of 8-byte record slots; a record is
/// the value followed by its bitwise complement (both `u32` little-endian), an
/// all-`0xff` slot is free.
///
/// - `store(v)` programs the next free slot of the page holding the newest value. When
///   that page is full it erases the other page (if it is not blank already) and
///   programs `v` into its first slot. The full page is left as it is until the next
///   switch, so the newest value is intact on flash at every instant.
/// - `load` scans both pages and returns the **largest** valid record (values only
///   increase, see [the storage contract](super#the-storage-contract)).
///
/// A write or erase cut short by a power failure moves some bits and not others; since
/// programming only clears bits and erasing only sets them, such a slot never reads as a
/// value and its complement unless it is the complete record, so it is skipped (and never
/// programmed over: the next record goes after it). One erase per `page_size / 8` stores;
/// with 4 KiB pages and [`SequenceCounter`](super::SequenceCounter) blocks of 64 numbers,
/// that is one erase per 32,768 reports.
///
/// The flash's write size must divide 8 (1, 2, 4 or 8 bytes: most MCU flash; flash with
/// 16- or 32-byte write units needs its own layout), and its read size too.
///
/// ```
/// use depin_device::counter::{NorFlashStorage, SequenceCounter};
/// # use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
/// # struct Flash([u8; 256]);
/// # impl ErrorType for Flash { type Error = NorFlashErrorKind; }
/// # impl ReadNorFlash for Flash {
/// #     const READ_SIZE: usize = 1;
/// #     fn read(&mut self, at: u32, out: &mut [u8]) -> Result<(), Self::Error> {
/// #         let at = at as usize;
/// #         out.copy_from_slice(self.0.get(at..at + out.len()).ok_or(NorFlashErrorKind::OutOfBounds)?);
/// #         Ok(())
/// #     }
/// #     fn capacity(&self) -> usize { self.0.len() }
/// # }
/// # impl NorFlash for Flash {
/// #     const WRITE_SIZE: usize = 4;
/// #     const ERASE_SIZE: usize = 64;
/// #     fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
/// #         self.0[from as usize..to as usize].fill(0xff);
/// #         Ok(())
/// #     }
/// #     fn write(&mut self, at: u32, data: &[u8]) -> Result<(), Self::Error> {
/// #         for (cell, byte) in self.0[at as usize..].iter_mut().zip(data) { *cell &= byte; }
/// #         Ok(())
/// #     }
/// # }
/// let flash = Flash([0xff; 256]); // your HAL's flash peripheral
/// // two 64-byte pages from offset 128: 8 records each
/// let storage = NorFlashStorage::new(flash, 128, 64)?;
/// let mut counter = SequenceCounter::new(storage, 16)?;
/// assert_eq!(counter.next_seq()?, 0);
/// let flash = counter.into_storage().into_flash(); // reboot
/// let mut counter = SequenceCounter::new(NorFlashStorage::new(flash, 128, 64)?, 16)?;
/// assert_eq!(counter.next_seq()?, 16);
/// # Ok::<(), depin_device::Error>(())
/// ```
#[derive(Debug)]
pub struct NorFlashStorage<F> {
    flash: F,
    base: u32,
    page_size: u32,
    cursor: Option<Cursor>,
}

impl<F: NorFlash> NorFlashStorage<F> {
    /// Use the two pages `[base, base + page_size)` and `[base + page_size, base +
    /// 2 * page_size)` of `flash` (offsets as the HAL counts them). Reads nothing yet.
    ///
    /// Fails with [`Error::FlashLayout`] if `base` or `page_size` is not a multiple of
    /// the erase size, a page holds fewer than two records, the pages run past the
    /// flash's capacity, or the flash's write or read size does not divide 8.
    pub fn new(flash: F, base: u32, page_size: u32) -> Result<Self> {
        if F::WRITE_SIZE == 0 || !RECORD_LEN.is_multiple_of(F::WRITE_SIZE) {
            return Err(Error::FlashLayout("the flash write size must divide 8"));
        }
        if F::READ_SIZE == 0 || !RECORD_LEN.is_multiple_of(F::READ_SIZE) {
            return Err(Error::FlashLayout("the flash read size must divide 8"));
        }
        let erase =
            u32::try_from(F::ERASE_SIZE)
                .ok()
                .filter(|&e| e > 0)
                .ok_or(Error::FlashLayout(
                    "the flash erase size must be 1..=u32::MAX",
                ))?;
        if !base.is_multiple_of(erase) || !page_size.is_multiple_of(erase) {
            return Err(Error::FlashLayout(
                "base and page size must be multiples of the erase size",
            ));
        }
        if page_size < 2 * RECORD || !page_size.is_multiple_of(RECORD) {
            return Err(Error::FlashLayout(
                "a page must hold at least two 8-byte records, in whole records",
            ));
        }
        let end = page_size
            .checked_mul(2)
            .and_then(|both| both.checked_add(base))
            .ok_or(Error::FlashLayout("the two pages run past u32 offsets"))?;
        if usize::try_from(end).map_or(true, |end| end > flash.capacity()) {
            return Err(Error::FlashLayout(
                "the two pages run past the flash capacity",
            ));
        }
        Ok(NorFlashStorage {
            flash,
            base,
            page_size,
            cursor: None,
        })
    }

    /// Give the flash back.
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    fn slots(&self) -> u32 {
        self.page_size / RECORD
    }

    fn offset(&self, page: u32, slot: u32) -> u32 {
        // in range: new() checked base + 2 * page_size fits, page < 2, slot < slots
        self.base + page * self.page_size + slot * RECORD
    }

    fn read_slot(&mut self, page: u32, slot: u32) -> core::result::Result<Slot, ErrorKind> {
        let mut bytes = [0u8; RECORD_LEN];
        let at = self.offset(page, slot);
        self.flash
            .read(at, &mut bytes)
            .map_err(|_| ErrorKind::Read)?;
        Ok(decode(&bytes))
    }

    /// Scan one page: (largest value, slot after the last programmed one, all erased).
    #[allow(clippy::type_complexity)]
    fn scan_page(
        &mut self,
        page: u32,
    ) -> core::result::Result<(Option<u32>, u32, bool), ErrorKind> {
        let mut newest: Option<u32> = None;
        let mut next = 0;
        for slot in 0..self.slots() {
            match self.read_slot(page, slot)? {
                Slot::Erased => {}
                Slot::Value(v) => {
                    newest = Some(newest.map_or(v, |n| n.max(v)));
                    next = slot + 1;
                }
                Slot::Torn => next = slot + 1,
            }
        }
        Ok((newest, next, next == 0))
    }

    fn cursor(&mut self) -> core::result::Result<Cursor, ErrorKind> {
        if let Some(cursor) = self.cursor {
            return Ok(cursor);
        }
        let (new0, next0, erased0) = self.scan_page(0)?;
        let (new1, next1, erased1) = self.scan_page(1)?;
        let cursor = match (new0, new1) {
            (_, Some(b)) if new0.is_none_or(|a| b > a) => Cursor {
                active: 1,
                next_slot: next1,
                other_erased: erased0,
                newest: Some(b),
            },
            _ => Cursor {
                active: 0,
                next_slot: next0,
                other_erased: erased1,
                newest: new0,
            },
        };
        self.cursor = Some(cursor);
        Ok(cursor)
    }

    fn write_record(
        &mut self,
        page: u32,
        slot: u32,
        value: u32,
    ) -> core::result::Result<(), ErrorKind> {
        let at = self.offset(page, slot);
        self.flash
            .write(at, &encode(value))
            .map_err(|_| ErrorKind::Write)
    }

    fn try_store(&mut self, value: u32) -> core::result::Result<(), ErrorKind> {
        let cursor = self.cursor()?;
        if cursor.newest.is_some_and(|n| value <= n) {
            return Err(ErrorKind::NotIncreasing);
        }
        if cursor.next_slot < self.slots() {
            self.write_record(cursor.active, cursor.next_slot, value)?;
            self.cursor = Some(Cursor {
                next_slot: cursor.next_slot + 1,
                newest: Some(value),
                ..cursor
            });
            return Ok(());
        }
        // the active page is full: move to the other one, erasing it first
        let other = 1 - cursor.active;
        if !cursor.other_erased {
            let from = self.offset(other, 0);
            self.flash
                .erase(from, from + self.page_size)
                .map_err(|_| ErrorKind::Write)?;
        }
        self.write_record(other, 0, value)?;
        self.cursor = Some(Cursor {
            active: other,
            next_slot: 1,
            other_erased: false,
            newest: Some(value),
        });
        Ok(())
    }
}

impl<F> ErrorType for NorFlashStorage<F> {
    type Error = ErrorKind;
}

impl<F: NorFlash> CounterStorage for NorFlashStorage<F> {
    fn load(&mut self) -> core::result::Result<Option<u32>, ErrorKind> {
        self.cursor = None; // always read what the flash holds now
        Ok(self.cursor()?.newest)
    }

    fn store(&mut self, value: u32) -> core::result::Result<(), ErrorKind> {
        let result = self.try_store(value);
        if result.is_err() {
            // a failed write or erase may have left a torn slot: rescan next time
            self.cursor = None;
        }
        result
    }
}
