"""The generation layer every artefact uses (plot overview, characters, scripts).

How to use it (see each module's docstring for more):

    from core.generation import Resource, check_limits, generate_structured, record_usage, record_failure
    from core.prompts import load_prompt

    tier = check_limits(user_id, Resource.CHARACTER)          # 1. before any model call (SubscriptionLimitError)
    result = generate_structured(load_prompt("my_prompt"), {"var": ...}, MySchema,   # 2. no transaction open
                                 tier=tier, user_id=user_id, error=CharacterGenerationError)
    with unit_of_work(user_id) as session:                    # 3. one short transaction: artefact + its usage
        row = ...; session.add(row); session.flush()
        record_usage(session, user_id=user_id, resource=Resource.CHARACTER, usage=result.usage, engine="llm",
                     book_id=book_id, resource_id=row.id, idempotency_key=f"character:{job_id}")
    # if step 2 raised: record_failure(user_id, resource=..., usage=getattr(exc, "usage", Usage()), engine="llm",
    #                                  book_id=book_id, error_kind=type(exc).__name__)

`result.usage.as_dict()` is the provenance to store (model, tier, structured-output method, tokens, cost, calls,
cache hits, duration). `llm_available()` says whether a model is configured; otherwise use the offline engine.
"""

from core.generation.model import Generated, chat_model, generate_structured, parse_json_answer
from core.generation.usage import (AlreadyCharged, Resource, Usage, charged_resource, check_limits, cost_of,
                                   record_failure, record_usage, tier_of)


def llm_available() -> bool:
    from core.config import get_settings
    return get_settings().llm_configured


__all__ = ["AlreadyCharged", "Generated", "Resource", "Usage", "charged_resource", "chat_model", "check_limits",
           "cost_of", "generate_structured", "llm_available", "parse_json_answer", "record_failure", "record_usage",
           "tier_of"]
