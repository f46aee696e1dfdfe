"""Errors that are the user's to fix. The command line prints them as one line and exits 2."""


class UserError(Exception):
    """A mistake the user can fix (bad option, missing or corrupt file): one clear line."""


class DataError(UserError):
    """A dataset file is missing, corrupt or of the wrong format."""


class ConfigError(UserError):
    """A configuration key or value is invalid."""


class CheckpointError(UserError):
    """No valid checkpoint where one is needed, or one that fails its checksum."""


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
