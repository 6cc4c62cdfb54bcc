//! A slab of connections keyed by slot, each slot tagged with its connection's serial, so a stale `ConnId` never reaches a newer connection in the same slot.

/// Storage with stable slot indexes and reuse of freed slots.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug)]
struct Entry<T> {
    serial: u64,
    value: Option<T>,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Inserts a value under `serial` (never given before); returns its slot.
    pub(crate) fn insert(&mut self, serial: u64, value: T) -> u32 {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            if let Some(e) = self.entries.get_mut(slot as usize) {
                *e = Entry {
                    serial,
                    value: Some(value),
                };
                return slot;
            }
        }
        let slot = self.entries.len() as u32;
        self.entries.push(Entry {
            serial,
            value: Some(value),
        });
        slot
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.entries.get_mut(slot as usize)?.value.as_mut()
    }

    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        self.entries.get(slot as usize)?.value.as_ref()
    }

    /// The value in `slot` if it is still the one inserted under `serial`.
    pub(crate) fn get_gen_mut(&mut self, slot: u32, serial: u64) -> Option<&mut T> {
        let e = self.entries.get_mut(slot as usize)?;
        if e.serial != serial {
            return None;
        }
        e.value.as_mut()
    }

    /// The value in `slot` if it is still the one inserted under `serial`.
    pub(crate) fn get_gen(&self, slot: u32, serial: u64) -> Option<&T> {
        let e = self.entries.get(slot as usize)?;
        if e.serial != serial {
            return None;
        }
        e.value.as_ref()
    }

    /// The serial of the value in `slot`, if there is one.
    pub(crate) fn serial(&self, slot: u32) -> Option<u64> {
        let e = self.entries.get(slot as usize)?;
        e.value.as_ref().map(|_| e.serial)
    }

    /// Removes the value in `slot` if it is still the one inserted under `serial`.
    pub(crate) fn remove(&mut self, slot: u32, serial: u64) -> Option<T> {
        let e = self.entries.get_mut(slot as usize)?;
        if e.serial != serial {
            return None;
        }
        let v = e.value.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(v)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots currently holding a value, with their serials.
    pub(crate) fn ids(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.value.is_some())
            .map(|(i, e)| (i as u32, e.serial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_answers_only_its_new_serial() {
        let mut s = Slab::new();
        let a = s.insert(1, "a");
        let b = s.insert(2, "b");
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove(a, 99), None, "a stale serial removes nothing");
        assert_eq!(s.remove(a, 1), Some("a"));
        assert_eq!(s.get_gen_mut(a, 1), None);
        let c = s.insert(3, "c");
        assert_eq!(c, a);
        assert_eq!(s.get_gen_mut(a, 1), None);
        assert_eq!(s.remove(a, 1), None, "the old id cannot drop the new value");
        assert_eq!(s.get_gen_mut(c, 3), Some(&mut "c"));
        assert_eq!(s.ids().collect::<Vec<_>>(), [(a, 3), (b, 2)]);
        assert_eq!(s.remove(a, 3), Some("c"));
        assert_eq!(s.remove(a, 3), None);
        assert_eq!(s.len(), 1);
    }
}
