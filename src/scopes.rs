//! What an API key may do. Each `api_keys` entry may end in `:scope+scope`;
//! an entry without scopes keeps full access (the behaviour before scopes
//! existed), and the component warns about it.

/// One capability, named as in `api_keys` and the OpenAPI document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    ProductsRead,
    ProductsWrite,
    InventoryWrite,
    OrdersRead,
    /// Still limited by `passthrough_allow`.
    Passthrough,
    TokenRead,
    /// The forwarded events' dead letters: list, replay, delete.
    DeadLettersManage,
    /// The job routes (`/v1/jobs/{name}`), and nothing else.
    JobsRun,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::ProductsRead,
        Scope::ProductsWrite,
        Scope::InventoryWrite,
        Scope::OrdersRead,
        Scope::Passthrough,
        Scope::TokenRead,
        Scope::DeadLettersManage,
        Scope::JobsRun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProductsRead => "products.read",
            Scope::ProductsWrite => "products.write",
            Scope::InventoryWrite => "inventory.write",
            Scope::OrdersRead => "orders.read",
            Scope::Passthrough => "passthrough",
            Scope::TokenRead => "token.read",
            Scope::DeadLettersManage => "dead_letters.manage",
            Scope::JobsRun => "jobs.run",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// A set of scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Scopes(u16);

impl Scopes {
    /// What an entry without scopes may do: everything.
    pub fn all() -> Scopes {
        Scopes(Scope::ALL.iter().fold(0, |bits, s| bits | s.bit()))
    }

    pub fn allows(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// `products.read+orders.read`; `None` for an empty list or a name that
    /// is not a scope. The caller reports the entry by position only: the
    /// text may be part of a key with a `:` in it.
    pub fn parse(list: &str) -> Option<Scopes> {
        let mut bits = 0;
        for name in list.split('+') {
            bits |= Scope::parse(name.trim())?.bit();
        }
        (bits != 0).then_some(Scopes(bits))
    }

    /// The names, `+`-joined, in a fixed order.
    pub fn names(self) -> String {
        Scope::ALL
            .into_iter()
            .filter(|s| self.allows(*s))
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// The scopes' names for error messages and docs.
pub fn known() -> String {
    Scope::ALL.map(Scope::as_str).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_exactly() {
        let s = Scopes::parse("inventory.write+orders.read").unwrap();
        assert!(s.allows(Scope::InventoryWrite) && s.allows(Scope::OrdersRead));
        assert!(!s.allows(Scope::ProductsRead) && !s.allows(Scope::Passthrough));
        assert_eq!(s.names(), "inventory.write+orders.read");
        assert_eq!(
            Scopes::parse(" token.read ").map(Scopes::names).as_deref(),
            Some("token.read")
        );
        for bad in [
            "",
            "+",
            "orders",
            "orders.read+",
            "Orders.Read",
            "orders.read+nope",
            "*",
        ] {
            assert_eq!(Scopes::parse(bad), None, "{bad}");
        }
        for scope in Scope::ALL {
            assert!(Scopes::all().allows(scope));
            assert_eq!(
                Scopes::parse(scope.as_str()).map(|s| s.allows(scope)),
                Some(true)
            );
        }
    }
}
