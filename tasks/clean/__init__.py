"""The clean stage (being split into modules along its seams; see the next commit)."""

from tasks.clean import unwrap as _whole

globals().update({name: value for name, value in vars(_whole).items() if not name.startswith("__")})
