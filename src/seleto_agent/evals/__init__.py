"""Conversation evals: scripted lead conversations run through the real service.

`evals/scenarios/*.yaml` holds the conversations and what each must leave behind. The driver
plays them through the service in-process (webhook → worker → agent → guardrail → reply) with
WhatsApp always simulated by the sandbox; the model is the sandbox's scripted one unless
`OPENAI_API_KEY` is set. `python -m seleto_agent.evals` (`make eval`) prints the scorecard.
"""
