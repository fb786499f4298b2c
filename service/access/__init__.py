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
    split_key,
)
from service.access.organizations import (
    OrganizationError,
    create_organization,
    find_organization,
)

__all__ = [
    "ROLES", "ApiKey", "OrganizationError", "Role", "VerifiedKeys", "authenticate",
    "create_api_key", "create_organization", "find_organization", "require", "split_key",
]
