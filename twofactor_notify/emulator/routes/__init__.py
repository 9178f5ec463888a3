"""The API families of the emulator, one module each.

* :mod:`.otp`: ``/API/V1/{key}/SMS/...`` (send and verify OTPs, sandbox cases);
* :mod:`.r1`: ``/API/R1/`` transactional and promotional SMS;
* :mod:`.bulk`: ``/API/R1/Bulk/``;
* :mod:`.encrypted`: ``/API/R1/?module=ENC`` (send and delivery lookup);
* :mod:`.inspection`: the emulator's own ``/__emulator__/`` JSON API.
"""
