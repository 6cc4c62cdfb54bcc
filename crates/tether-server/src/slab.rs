//! A slab of connections with generation counters, so a stale `ConnId` never reaches a newer connection in the same slot.

/// Storage with stable slot indexes and reuse of freed slots.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
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

    /// Inserts a value; returns its slot and generation.
    pub(crate) fn insert(&mut self, value: T) -> (u32, u32) {
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let e = &mut self.entries[slot as usize];
            e.generation = e.generation.wrapping_add(1);
            e.value = Some(value);
            return (slot, e.generation);
        }
        let slot = self.entries.len() as u32;
        self.entries.push(Entry {
            generation: 0,
            value: Some(value),
        });
        (slot, 0)
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.entries.get_mut(slot as usize)?.value.as_mut()
    }

    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        self.entries.get(slot as usize)?.value.as_ref()
    }

    /// The value in `slot` if its generation is still `generation`.
    pub(crate) fn get_gen_mut(&mut self, slot: u32, generation: u32) -> Option<&mut T> {
        let e = self.entries.get_mut(slot as usize)?;
        if e.generation != generation {
            return None;
        }
        e.value.as_mut()
    }

    pub(crate) fn generation(&self, slot: u32) -> Option<u32> {
        let e = self.entries.get(slot as usize)?;
        e.value.as_ref().map(|_| e.generation)
    }

    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let v = self.entries.get_mut(slot as usize)?.value.take()?;
        self.free.push(slot);
        self.len -= 1;
        Some(v)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots currently holding a value.
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.value.is_some())
            .map(|(i, _)| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_bumps_generation() {
        let mut s = Slab::new();
        let (a, ga) = s.insert("a");
        let (b, _) = s.insert("b");
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.get_gen_mut(a, ga), None);
        let (c, gc) = s.insert("c");
        assert_eq!(c, a);
        assert_ne!(gc, ga);
        assert_eq!(s.get_gen_mut(a, ga), None);
        assert_eq!(s.get_gen_mut(c, gc), Some(&mut "c"));
        assert_eq!(s.slots().collect::<Vec<_>>(), [a, b]);
        assert_eq!(s.remove(a), Some("c"));
        assert_eq!(s.remove(a), None);
        assert_eq!(s.len(), 1);
    }
}
