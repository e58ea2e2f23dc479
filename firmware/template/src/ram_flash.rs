//! A NOR flash in RAM, standing in for your HAL's flash driver so the template runs on
//! QEMU. It follows NOR rules (programming only clears bits, erasing sets a page to 0xff)
//! but forgets everything at reset. Replace it with the driver of your chip's flash: it
//! implements the same `embedded_storage::nor_flash::NorFlash` trait.

use depin_device::embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash,
};

/// Erase page size.
pub const PAGE: u32 = 1024;
const SIZE: usize = 2 * PAGE as usize;

/// Two erase pages of simulated NOR flash.
pub struct RamFlash {
    mem: [u8; SIZE],
}

impl RamFlash {
    /// Erased flash.
    pub const fn new() -> Self {
        RamFlash { mem: [0xff; SIZE] }
    }

    fn range(&mut self, at: u32, len: usize) -> Result<&mut [u8], NorFlashErrorKind> {
        let at = at as usize;
        self.mem
            .get_mut(at..at.saturating_add(len))
            .ok_or(NorFlashErrorKind::OutOfBounds)
    }
}

impl ErrorType for RamFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for RamFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        bytes.copy_from_slice(self.range(offset, bytes.len())?);
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl NorFlash for RamFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = PAGE as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if from % PAGE != 0 || to % PAGE != 0 || from > to {
            return Err(NorFlashErrorKind::NotAligned);
        }
        self.range(from, (to - from) as usize)?.fill(0xff);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        if offset % 4 != 0 || bytes.len() % 4 != 0 {
            return Err(NorFlashErrorKind::NotAligned);
        }
        for (cell, byte) in self.range(offset, bytes.len())?.iter_mut().zip(bytes) {
            *cell &= byte;
        }
        Ok(())
    }
}
