//! "No response body, header or log line ever contains a secret, an access token other than in
//! the token endpoint's own answer, or a refresh token." And the database holds none in clear.

mod no_leaks;
