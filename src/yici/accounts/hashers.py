import hashlib

from django.contrib.auth.hashers import Argon2PasswordHasher, BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare, get_random_string


class YiciArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with OWASP's recommended minimum (19 MiB, t=2, p=1).

    Django's defaults (100 MiB, p=8) cost ~125–226 ms per login on a 2-core county server, about
    nine logins a second for the whole box; these parameters cost a fraction of that and are still
    far stronger than PBKDF2. See docs/architecture.md, "Passwords".
    """

    algorithm = "argon2"  # same encoded format as Django's, so hashes stay portable
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1


class ClientSecretHasher(BasePasswordHasher):
    """Salted SHA-256 for OAuth2 client secrets only (``OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]``).

    A client secret is 128 random characters made by Yici, not a password a person chose: no
    dictionary reaches it, so a slow hash adds nothing but cost, and a machine client or a relying
    party authenticates on every token request (the refresh-rate goal is ≥ 300/s on two cores).
    """

    algorithm = "yici_client_secret"

    def salt(self) -> str:
        return get_random_string(16)

    def encode(self, password: str, salt: str) -> str:
        self._check_encode_args(password, salt)
        digest = hashlib.sha256(f"{salt}${password}".encode()).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        decoded = self.decode(encoded)
        return constant_time_compare(encoded, self.encode(password, decoded["salt"]))

    def safe_summary(self, encoded: str) -> dict:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "salt": mask_hash(decoded["salt"]), "hash": mask_hash(decoded["hash"])}

    def harden_runtime(self, password, encoded):
        pass
