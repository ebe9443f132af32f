"""ilvb.auth: credentials — login tickets and server tokens (HS256 JWTs signed with an app's
secret), app credentials on REST, and the admin key (stored only as a hash).

Imports ``ilvb.errors`` and ``ilvb.store`` (to look up apps and the admin key hash); must not
import the planes or the HTTP layer (``ilvb.server``, ``ilvb.rooms``, ``ilvb.sfu``) nor the SDK.
"""
