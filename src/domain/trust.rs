/// The two separately configured sets of trust anchors a signature certificate can chain to
/// (`[pki]`): the public CAs (the national root and the licensed CAs, for citizens and
/// enterprises) and the Government CA (Ban Cơ yếu Chính phủ, for state officials). A closed set,
/// so every rule about who may use which certificate decides for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustSet {
    Public,
    Government,
}

impl TrustSet {
    pub const ALL: [TrustSet; 2] = [Self::Public, Self::Government];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Government => "government",
        }
    }
}
