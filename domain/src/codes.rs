//! Closed code lists (statuses, reasons, kinds) as enums with one stable snake_case code each.

use crate::Invalid;

/// A string that is not one of a code list's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {list} code `{value}`")]
pub struct UnknownCode {
    /// Which list was asked, e.g. `reason`.
    pub list: &'static str,
    /// What was given.
    pub value: String,
    /// Every accepted value, for the error message.
    pub expected: &'static [&'static str],
}

impl From<UnknownCode> for Invalid {
    fn from(e: UnknownCode) -> Self {
        Invalid::new(
            "unknown_code",
            format!("must be one of: {}", e.expected.join(", ")),
        )
    }
}

/// Declares a code list: the enum, its `ALL` values, `as_str`, `codes`, `FromStr` and `Display`.
macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $list:literal {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every code, in declaration order.
            pub const CODES: &'static [&'static str] = &[$($code),+];

            /// The stable wire and storage code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::codes::UnknownCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err($crate::codes::UnknownCode {
                        list: $list,
                        value: s.to_owned(),
                        expected: Self::CODES,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use code_list;
