//! Typed, request-scoped attributes that middleware hands to handlers, and the app's state.

use std::any::{Any, TypeId};
use std::borrow::Cow;

use parking_lot::MutexGuard;

use super::{Context, Key, Settings};
use crate::error::{Error, Result};

impl Context {
    /// What handlers and middleware set: its attributes are `.attrs`.
    pub(super) fn settings(&self) -> MutexGuard<'_, Settings> {
        // (A panic elsewhere while holding the lock leaves the settings consistent: every write
        // is a single push, replace or take.)
        self.inner.settings.lock()
    }

    fn put(&self, key: Key, value: Box<dyn Any + Send + Sync>) {
        let attrs = &mut self.settings().attrs;
        match attrs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => attrs.push((key, value)),
        }
    }

    /// Stores a typed, request-scoped attribute (one per type; a second `set` replaces it).
    /// Middleware uses it to hand values (the authenticated user, ...) to the handler.
    pub fn set<T: Send + Sync + 'static>(&self, value: T) {
        self.put(Key::Type(TypeId::of::<T>()), Box::new(value));
    }

    /// A clone of the attribute of type `T`, if one was set.
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        let key = Key::Type(TypeId::of::<T>());
        self.settings()
            .attrs
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.downcast_ref::<T>())
            .cloned()
    }

    /// Stores an attribute under a string key (when one type is stored several times).
    pub fn set_named<T: Send + Sync + 'static>(&self, key: impl Into<Cow<'static, str>>, value: T) {
        self.put(Key::Named(key.into()), Box::new(value));
    }

    /// A clone of the attribute stored under `key`, if it exists and is a `T`.
    pub fn get_named<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        self.settings()
            .attrs
            .iter()
            .find(|(k, _)| matches!(k, Key::Named(n) if n == key))
            .and_then(|(_, v)| v.downcast_ref::<T>())
            .cloned()
    }

    /// The app-wide value of type `T` given to [`App::state`](crate::App::state); a 500 naming
    /// the type when there is none.
    pub fn state<T: Send + Sync + 'static>(&self) -> Result<&T> {
        self.app().state::<T>().ok_or_else(|| {
            Error::internal(format!(
                "no app state of type `{}`: add it with App::new().state(value)",
                std::any::type_name::<T>()
            ))
        })
    }
}
