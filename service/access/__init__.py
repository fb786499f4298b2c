"""API keys and roles: creating keys, authenticating a request, requiring a role. May import
core and db; every capability's routes use ``require`` from here.
"""

from service.access.keys import (
    ROLES,
    ApiKey,
    Role,
    VerifiedKeys,
    authenticate,
    create_api_key,
    require,
)

__all__ = ["ROLES", "ApiKey", "Role", "VerifiedKeys", "authenticate", "create_api_key", "require"]
