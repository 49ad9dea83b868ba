"""The base of every manifest schema class: unknown keys are errors, parsed values are frozen."""

from pydantic import BaseModel, ConfigDict


class _Schema(BaseModel):
    # Unknown keys are errors: a misspelt optional field must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)
