//! What the simulated IMS accepts and which tenant the ACCS API lives under.

/// Credentials, tenant and token policy of one simulator instance.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The only accepted `client_id`; ACCS also wants it back as `x-api-key`.
    pub client_id: String,
    /// Any of these is accepted, so tests can model secret rotation.
    pub client_secrets: Vec<String>,
    /// First path segment of every ACCS URL.
    pub tenant: String,
    /// Token lifetime in seconds. `None` omits `expires_in` from the token response and the
    /// issued tokens never expire, to exercise the component's fallback lifetime.
    pub expires_in: Option<u64>,
    /// Scope a token must carry for ACCS to accept it; empty disables the check.
    pub require_scope: String,
    /// The scopes the credential was granted (Developer Console: the APIs and
    /// product profiles added to the project); a token request naming any
    /// other is refused with `invalid_scope`. Empty grants any scope.
    pub granted_scopes: Vec<String>,
    /// The inventory sources that exist: a source-items save naming any other
    /// fails as a whole, like Magento's.
    pub source_codes: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            client_id: "sim-client".into(),
            client_secrets: vec!["sim-secret-0123456789abcdef".into()],
            tenant: "tenant-sim".into(),
            expires_in: Some(86399),
            require_scope: "commerce.accs".into(),
            // accs-edge's default `ims_scopes`, which an ACCS credential has.
            granted_scopes: [
                "openid",
                "AdobeID",
                "email",
                "profile",
                "additional_info.roles",
                "additional_info.projectedProductContext",
                "commerce.accs",
            ]
            .map(String::from)
            .to_vec(),
            source_codes: vec!["default".into(), "wh-1".into(), "wh-2".into()],
        }
    }
}
