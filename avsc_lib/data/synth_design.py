"""What each class of the synthetic set sounds and looks like: ranges drawn once per location.

Every class is a set of ranges over one shared list of sound components (``SOUND_RANGES``) and
over the look parameters of its layout (``LOOK_LAYOUTS``, ``LOOK_RANGES``); a location draws one
value per range (:func:`draw_sound_design`, :func:`draw_look_design`). Classes that should
sound alike share most sound ranges; classes that should look alike share a layout. The
renderers (:mod:`avsc_lib.data.synth_audio`, :mod:`avsc_lib.data.synth_video`) turn the drawn
values into a clip.
"""

from __future__ import annotations

import numpy as np

# What each component is (levels are relative amplitudes, event rates are per second).
SOUND_COMPONENTS = {
    "bed": "broadband noise bed (level); 'tilt' its slope in dB per octave",
    "rumble": "low-frequency noise below 'rumble_hz' (traffic, engines, rails)",
    "roar": "mid-band noise 300 Hz - 2 kHz (wheels on rails, cabin)",
    "hvac": "steady ventilation noise of indoor halls",
    "wind": "gusty low noise with leaf rustle",
    "babble": "crowd voices: band noise with syllabic envelopes and voiced pitch",
    "steps": "footsteps per second",
    "passby": "passing cars per second (swelling noise with a falling engine tone)",
    "horn": "car horns per second",
    "birds": "bird calls per second (trills of frequency sweeps, 2-7 kHz)",
    "fountain": "splashing water (high-band noise)",
    "music": "background music (chord sequence)",
    "chime": "announcement chimes per second",
    "luggage": "rolling suitcases per second (rattling low noise)",
    "motor": "engine harmonics at 'motor_hz', speeding up and slowing down",
    "whine": "electric inverter whine at 'whine_hz', following the motor",
    "clacks": "rail-joint double knocks per second",
    "screech": "wheel screeches per second (narrow band 2-5 kHz)",
    "trains": "trains arriving or leaving per second (long rumble swells)",
    "beeps": "door or stop-request beep sequences per second",
    "bell": "tram bells per second",
    "hiss": "air-brake hisses per second",
    "rt60": "reverberation time in seconds; 'wet' the reverberant share",
}

# Defaults of the settings that go with a component (frequencies in Hz, slope in dB/octave).
SOUND_DEFAULTS = {"tilt": -3.0, "rumble_hz": 200.0, "motor_hz": 50.0, "whine_hz": 1000.0, "wet": 0.0}

_OUTDOOR_CROWD = {
    "bed": (0.5, 1.0), "tilt": (-4.0, -2.0), "rumble": (0.3, 0.9), "rumble_hz": (150, 400),
    "babble": (0.6, 1.2), "steps": (1.0, 3.5), "passby": (0.0, 0.05), "birds": (0.0, 0.15),
    "rt60": (0.2, 0.6), "wet": (0.05, 0.2),
}
_HALL_CROWD = {
    "bed": (0.1, 0.3), "tilt": (-5.0, -3.0), "hvac": (0.4, 0.9), "babble": (0.6, 1.2),
    "steps": (0.5, 2.0), "rt60": (0.8, 1.8), "wet": (0.25, 0.5),
}
_RAIL = {
    "bed": (0.1, 0.3), "tilt": (-5.0, -3.0), "rumble_hz": (120, 300), "hvac": (0.2, 0.5),
    "beeps": (0.0, 0.04), "rt60": (0.2, 0.5), "wet": (0.1, 0.2),
}
_ROAD_VEHICLE = {
    "bed": (0.1, 0.3), "tilt": (-5.0, -3.0), "rumble": (0.4, 1.0), "rumble_hz": (150, 300),
    "roar": (0.2, 0.5), "babble": (0.2, 0.6), "beeps": (0.01, 0.04), "rt60": (0.1, 0.3),
    "wet": (0.05, 0.15),
}

# Per class: ranges over the components. Pairs that sound alike share a base:
# street_pedestrian ~ public_square, airport ~ shopping_mall, metro ~ metro_station, bus ~ tram.
SOUND_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "airport": {**_HALL_CROWD, "chime": (0.02, 0.08), "luggage": (0.1, 0.4), "music": (0.0, 0.15)},
    "bus": {**_ROAD_VEHICLE, "motor": (0.6, 1.2), "motor_hz": (30, 80), "hiss": (0.02, 0.08),
            "whine": (0.0, 0.1), "whine_hz": (600, 1500)},
    "metro": {**_RAIL, "rumble": (0.8, 1.8), "roar": (0.4, 1.0), "clacks": (0.6, 1.6),
              "screech": (0.02, 0.12), "babble": (0.2, 0.7), "steps": (0.0, 0.5)},
    "metro_station": {**_RAIL, "rumble": (0.3, 1.0), "roar": (0.1, 0.5), "babble": (0.4, 1.0),
                      "steps": (0.3, 1.5), "trains": (0.08, 0.2), "clacks": (0.0, 0.8),
                      "screech": (0.01, 0.08), "rt60": (0.5, 1.5), "wet": (0.2, 0.4)},
    "park": {"bed": (0.2, 0.5), "tilt": (-7.0, -5.0), "wind": (0.5, 1.5), "rumble": (0.1, 0.5),
             "rumble_hz": (80, 200), "birds": (0.5, 2.0), "babble": (0.0, 0.3),
             "steps": (0.0, 0.8)},
    "public_square": {**_OUTDOOR_CROWD, "rumble": (0.1, 0.6), "babble": (0.6, 1.3),
                      "steps": (0.5, 2.5), "fountain": (0.0, 0.6), "birds": (0.0, 0.3),
                      "rt60": (0.1, 0.4), "wet": (0.02, 0.1)},
    "shopping_mall": {**_HALL_CROWD, "music": (0.1, 0.5), "luggage": (0.0, 0.1),
                      "chime": (0.0, 0.02), "rt60": (0.7, 1.5)},
    "street_pedestrian": {**_OUTDOOR_CROWD, "steps": (1.5, 4.0), "fountain": (0.0, 0.2),
                          "rt60": (0.3, 0.7), "wet": (0.1, 0.25)},
    "street_traffic": {"bed": (0.5, 1.0), "tilt": (-5.0, -3.0), "rumble": (1.0, 2.0),
                       "rumble_hz": (200, 600), "babble": (0.1, 0.4), "steps": (0.0, 1.0),
                       "passby": (0.3, 0.7), "horn": (0.01, 0.05), "rt60": (0.3, 0.6),
                       "wet": (0.1, 0.2)},
    "tram": {**_ROAD_VEHICLE, "motor": (0.4, 1.0), "motor_hz": (50, 120), "whine": (0.1, 0.4),
             "whine_hz": (800, 2500), "clacks": (0.0, 0.6), "bell": (0.01, 0.05)},
}


def draw_sound_design(scene: str, rng: np.random.Generator) -> dict[str, float]:
    """One location's sound: a value drawn uniformly from each of the class's ranges."""
    return {key: float(rng.uniform(lo, hi)) for key, (lo, hi) in SOUND_RANGES[scene].items()}


def draw_city_sound(rng: np.random.Generator) -> dict[str, float]:
    """A city's sound character, shared by all its classes: tilt, mains hum, voice pitch."""
    return {
        "tilt_offset": float(rng.uniform(-1.0, 1.0)),
        "mains": float(rng.uniform(0.0, 0.05)),
        "mains_hz": float(rng.choice([50.0, 60.0])),
        "voice_shift": float(rng.uniform(0.85, 1.15)),
        "level_db": float(rng.uniform(-3.0, 3.0)),
    }


LOOK_LAYOUTS = {
    "airport": "hall", "metro_station": "hall",
    "metro": "rail_car", "tram": "rail_car",
    "street_pedestrian": "street", "street_traffic": "street",
    "park": "open", "public_square": "open",
    "bus": "bus_aisle", "shopping_mall": "atrium",
}

# Per class: look parameters drawn per location (uniform in the range; counts are floored).
LOOK_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "airport": {"glass": (0.3, 1.0), "tiles": (0.0, 0.7), "pit": (0.0, 0.09), "people": (2, 9)},
    "metro_station": {"glass": (0.0, 0.7), "tiles": (0.3, 1.0), "pit": (0.03, 0.12), "people": (1, 8)},
    "metro": {"outdoor": (0.0, 0.6), "window_h": (0.24, 0.36), "poles": (1, 4), "people": (0, 4)},
    "tram": {"outdoor": (0.4, 1.0), "window_h": (0.28, 0.42), "poles": (1, 4), "people": (0, 4)},
    "street_pedestrian": {"road": (0.12, 0.45), "asphalt": (0.3, 0.5), "lanes": (0.0, 0.4), "cars": (0, 1.5),
                          "people": (4, 12)},
    "street_traffic": {"road": (0.4, 0.8), "asphalt": (0.2, 0.36), "lanes": (0.3, 1.0), "cars": (3, 8),
                       "people": (0, 3)},
    "park": {"green": (0.55, 1.0), "trees": (0.5, 1.0), "skyline": (0.0, 0.35), "people": (0, 5)},
    "public_square": {"green": (0.0, 0.45), "trees": (0.0, 0.45), "skyline": (0.4, 1.0), "people": (2, 9)},
    "bus": {"outdoor": (0.5, 1.0), "people": (0, 4)},
    "shopping_mall": {"levels": (2, 5), "people": (3, 11)},
}


def draw_look_design(scene: str, rng: np.random.Generator) -> dict[str, float]:
    """One location's look: a value drawn uniformly from each of the class's ranges."""
    return {key: float(rng.uniform(lo, hi)) for key, (lo, hi) in LOOK_RANGES[scene].items()}


# Shared palettes (RGB in 0..1): every class draws from the same ones.
WALLS = np.array([[0.85, 0.85, 0.82], [0.78, 0.76, 0.70], [0.90, 0.88, 0.80], [0.70, 0.72, 0.75],
                  [0.80, 0.70, 0.60]])
SEATS = np.array([[0.15, 0.25, 0.6], [0.6, 0.12, 0.12], [0.15, 0.45, 0.25], [0.8, 0.45, 0.1],
                  [0.4, 0.2, 0.5], [0.1, 0.5, 0.55]])
FACADES = np.array([[0.80, 0.65, 0.45], [0.90, 0.85, 0.72], [0.62, 0.30, 0.22], [0.60, 0.60, 0.60],
                    [0.85, 0.75, 0.65], [0.75, 0.80, 0.70]])
CLOTHES = np.array([[0.1, 0.1, 0.12], [0.2, 0.25, 0.45], [0.55, 0.1, 0.1], [0.85, 0.85, 0.8],
                    [0.3, 0.35, 0.2], [0.6, 0.45, 0.3]])
CARS = np.array([[0.8, 0.8, 0.82], [0.1, 0.1, 0.1], [0.6, 0.05, 0.05], [0.15, 0.2, 0.5],
                 [0.5, 0.5, 0.55], [0.9, 0.75, 0.1]])
SHOPS = np.array([[0.9, 0.2, 0.15], [0.95, 0.6, 0.1], [0.95, 0.85, 0.2], [0.85, 0.3, 0.6],
                  [0.1, 0.6, 0.6], [0.3, 0.4, 0.9]])
SIGNS = np.array([[0.08, 0.1, 0.2], [0.1, 0.3, 0.7], [0.75, 0.1, 0.1], [0.15, 0.15, 0.15]])
SKIES = {  # (top, horizon) colours
    "clear": ([0.35, 0.55, 0.85], [0.75, 0.85, 0.95]),
    "overcast": ([0.62, 0.64, 0.68], [0.82, 0.83, 0.85]),
    "evening": ([0.35, 0.4, 0.65], [0.95, 0.7, 0.5]),
}
SKIN = np.array([0.75, 0.55, 0.45])


def draw_city_look(rng: np.random.Generator) -> dict:
    """A city's look, shared by all its classes: colour grade, brightness, skies, façades."""
    return {
        "tint": rng.uniform(0.92, 1.08, 3),
        "brightness": float(rng.uniform(0.9, 1.1)),
        "sky_p": rng.dirichlet([2.0, 2.0, 1.0]),
        "facades": rng.permutation(len(FACADES))[:4],
    }
