"""Events: cells of verdict counts, change points, roll-up to events, evaluation.

The events tier of DESIGN.md's data flow: verdicts are counted per
(country, network, service, role, plane, hour) into cells; a change-point detector
turns each cell series into onsets and ends; onsets that move together across a
country's networks roll up into a national event. :mod:`voipwatch.events.model`
holds the :class:`~voipwatch.events.model.Event` every later tier reads.
"""
