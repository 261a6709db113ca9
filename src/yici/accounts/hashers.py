from django.contrib.auth.hashers import Argon2PasswordHasher


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
