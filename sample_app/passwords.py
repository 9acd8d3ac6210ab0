"""Password hashing with scrypt, through Werkzeug's salted hash format."""

from werkzeug.security import check_password_hash, generate_password_hash

# scrypt with N=2**15, r=8, p=1 (Werkzeug 3.1's default cost) and a 16-character random salt.
HASH_METHOD = "scrypt:32768:8:1"

# Compared against when a username does not exist, so that a failed login takes about as long
# whether or not the account exists.
_DUMMY_HASH: list[str] = []


def hash_password(password: str) -> str:
    """Return a salted scrypt hash of ``password`` in Werkzeug's ``method$salt$hash`` format."""
    return generate_password_hash(password, method=HASH_METHOD)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password`` against a stored hash; with no hash, spend the same time and fail."""
    if password_hash is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hash_password("not-a-real-password"))
        check_password_hash(_DUMMY_HASH[0], password)
        return False
    return check_password_hash(password_hash, password)
