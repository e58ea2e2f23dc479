//! The embedded-hal error pattern, written once: an `ErrorKind`, a trait giving an error's
//! kind, and an `ErrorType` trait naming a driver's error type (implemented for `&mut T`).
//! [`crate::signer`] and [`crate::counter`] each instantiate it.

/// Define `$error` (the kind trait, for `$kind` itself and `Infallible`) and `ErrorType`
/// (whose `Error` is a `$error`, forwarded through `&mut T`) in the calling module.
macro_rules! error_pattern {
    (
        kind: $kind:ident,
        $(#[$error_doc:meta])*
        error: $error:ident,
        $(#[$type_doc:meta])*
        error_type,
        $(#[$assoc_doc:meta])*
        assoc,
    ) => {
        impl $error for $kind {
            fn kind(&self) -> $kind {
                *self
            }
        }

        $(#[$error_doc])*
        pub trait $error: core::fmt::Debug {
            /// The kind of failure.
            fn kind(&self) -> $kind;
        }

        impl $error for core::convert::Infallible {
            fn kind(&self) -> $kind {
                match *self {}
            }
        }

        $(#[$type_doc])*
        pub trait ErrorType {
            $(#[$assoc_doc])*
            type Error: $error;
        }

        impl<T: ErrorType + ?Sized> ErrorType for &mut T {
            type Error = T::Error;
        }
    };
}

pub(crate) use error_pattern;
