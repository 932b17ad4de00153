"""Virtual media players: televisions (device class tv), projectors, speakers and radios (FM/DAB/Spotify,
no sound mode)."""

from __future__ import annotations

from homeassistant.components.media_player import MediaPlayerDeviceClass, MediaPlayerEntity
from homeassistant.components.media_player.const import MediaPlayerEntityFeature, MediaPlayerState
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import DeviceSpec
from .entity import VirtualEntity, specs_for

DEVICE_CLASS_BY_KIND = {
    "tv": MediaPlayerDeviceClass.TV,
    "speaker": MediaPlayerDeviceClass.SPEAKER,
    "radio": MediaPlayerDeviceClass.SPEAKER,
}
RADIO_SOURCES = ["FM", "DAB", "Spotify"]


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry, add: AddEntitiesCallback) -> None:
    """Add the entry's media players."""
    add(VirtualMediaPlayer(spec) for spec in specs_for(entry, "media_player"))


class VirtualMediaPlayer(VirtualEntity, MediaPlayerEntity):
    """Off, on, playing, paused or idle, with volume, source and sound mode."""

    _attr_supported_features = (
        MediaPlayerEntityFeature.TURN_ON
        | MediaPlayerEntityFeature.TURN_OFF
        | MediaPlayerEntityFeature.PLAY
        | MediaPlayerEntityFeature.PAUSE
        | MediaPlayerEntityFeature.STOP
        | MediaPlayerEntityFeature.NEXT_TRACK
        | MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.VOLUME_STEP
        | MediaPlayerEntityFeature.VOLUME_MUTE
        | MediaPlayerEntityFeature.SELECT_SOURCE
        | MediaPlayerEntityFeature.SELECT_SOUND_MODE
    )
    _attr_state = MediaPlayerState.OFF
    _attr_volume_level = 0.3
    _attr_is_volume_muted = False
    _attr_source = "TV"
    _attr_sound_mode: str | None = "Standard"

    def __init__(self, spec: DeviceSpec) -> None:
        """Device class from the kind (tv, speaker; none for a projector)."""
        super().__init__(spec)
        self._attr_source_list = ["HDMI 1", "HDMI 2", "TV", "Streaming"]
        self._attr_sound_mode_list = ["Standard", "Movie", "Music"]
        self._attr_device_class = DEVICE_CLASS_BY_KIND.get(spec["kind"])
        if spec["kind"] == "radio":
            self._attr_source_list, self._attr_source = RADIO_SOURCES, RADIO_SOURCES[0]
            self._attr_sound_mode_list = None
            self._attr_sound_mode = None
            self._attr_supported_features &= ~MediaPlayerEntityFeature.SELECT_SOUND_MODE

    def _set(self, state: MediaPlayerState | None = None) -> None:
        """Write the state; ``None`` wakes a player that is off and leaves others as they are."""
        if state is not None:
            self._attr_state = state
        elif self._attr_state == MediaPlayerState.OFF:
            self._attr_state = MediaPlayerState.ON
        self.async_write_ha_state()

    async def async_turn_on(self) -> None:
        """Switch on."""
        self._set(MediaPlayerState.ON if self._attr_state == MediaPlayerState.OFF else None)

    async def async_turn_off(self) -> None:
        """Switch off."""
        self._set(MediaPlayerState.OFF)

    async def async_media_play(self) -> None:
        """Play."""
        self._set(MediaPlayerState.PLAYING)

    async def async_media_pause(self) -> None:
        """Pause."""
        self._set(MediaPlayerState.PAUSED)

    async def async_media_stop(self) -> None:
        """Stop playback (stays on)."""
        self._set(MediaPlayerState.IDLE)

    async def async_media_next_track(self) -> None:
        """Next track or channel."""
        self._set()

    async def async_set_volume_level(self, volume: float) -> None:
        """Set the volume (0..1)."""
        self._attr_volume_level = volume
        self._set()

    async def async_mute_volume(self, mute: bool) -> None:
        """Mute or unmute."""
        self._attr_is_volume_muted = mute
        self._set()

    async def async_select_source(self, source: str) -> None:
        """Switch input."""
        self._attr_source = source
        self._set()

    async def async_select_sound_mode(self, sound_mode: str) -> None:
        """Switch sound (or picture) mode."""
        self._attr_sound_mode = sound_mode
        self._set()
