//! What the sealed record carries besides the token: the denials ACCS
//! answered, the tokens IMS disowned and when IMS was last down; taken in
//! from every record read, and written back with the held token.

use super::{Look, MAX_INVALID, Tokens, random_nonce, seal};
use crate::config::Settings;
use crate::denials;
use crate::ports::Ports;

impl Tokens {
    /// ACCS refused `token` on `scope` for want of `resource` while IMS held
    /// it valid: remembered here and in the record, for every instance.
    pub async fn remember_denial<P: Ports>(
        &self,
        scope: &str,
        resource: &str,
        token: &str,
        settings: &Settings,
        ports: &P,
    ) {
        self.denials
            .remember(scope, resource, token, ports.now_ms());
        self.persist(settings, ports).await;
    }

    /// When IMS failed a validation last, for the caller's `Retry-After`.
    pub fn ims_down_for_s(&self, now_ms: u64) -> u64 {
        self.ims_down_until
            .get()
            .saturating_sub(now_ms)
            .div_ceil(1_000)
            .max(1)
    }

    /// The notes as the record keeps them.
    pub(super) fn notes(&self) -> seal::Notes {
        seal::Notes {
            denials: self.denials.export(),
            invalid: self
                .invalid
                .borrow()
                .iter()
                .map(|d| crate::config::hex(d))
                .collect(),
            ims_down_until: self.ims_down_until.get(),
            valid: self
                .validated
                .get()
                .map(|(d, until)| (crate::config::hex(&d), until)),
        }
    }

    /// Takes in what a record carried.
    pub(super) fn absorb(&self, notes: &seal::Notes) {
        self.denials.absorb(&notes.denials);
        let mut invalid = self.invalid.borrow_mut();
        for d in notes.invalid.iter().filter_map(|h| denials::unhex(h)) {
            if !invalid.contains(&d) {
                if invalid.len() >= MAX_INVALID {
                    invalid.remove(0);
                }
                invalid.push(d);
            }
        }
        self.ims_down_until
            .set(self.ims_down_until.get().max(notes.ims_down_until));
        if let Some((hex, until)) = &notes.valid
            && let Some(d) = denials::unhex(hex)
            && self.validated.get().is_none_or(|(_, mine)| mine < *until)
        {
            self.validated.set(Some((d, *until)));
        }
    }

    /// Writes the held token again with the notes as they are now. The
    /// store is read first: a newer token another instance stored is taken
    /// (with its notes), so this write never puts an older token back.
    pub(super) async fn persist<P: Ports>(&self, settings: &Settings, ports: &P) {
        let now = ports.now_ms();
        if let Some(found) = self
            .read_shared(settings, ports, now, 0, Look::Everywhere)
            .await
        {
            let newer = self
                .held
                .borrow()
                .as_ref()
                .is_none_or(|h| found.token.expires_at_ms > h.token.expires_at_ms);
            if newer {
                self.hold(found);
            } else {
                self.absorb(&found.notes);
            }
        }
        let Some(h) = self.held.borrow().clone() else {
            return;
        };
        let secrets = &settings.ims_client_secrets;
        let secret = &secrets[self.secret_index.get() % secrets.len()];
        let sealed = seal::seal_record(
            &seal::derive_key(secret.expose(), &self.fingerprint),
            self.shared.kv_key(),
            &h.token,
            &self.notes(),
            random_nonce(ports),
        );
        self.shared.write(ports, sealed).await;
    }
}
