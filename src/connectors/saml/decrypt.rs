//! XML Encryption of assertions: an `EncryptedAssertion` to its `Assertion`.
