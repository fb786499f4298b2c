"""What every part of the service stands on: settings, the keyring and tokens, the public paths,
problems, request bodies and fields, randomness, addresses. Imports nothing else of the service.
"""
