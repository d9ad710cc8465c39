// Enumeration and open: both run on a pool thread (they do USB I/O).
#include <libusb.h>
#include <napi.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "handle.h"
#include "platform.h"
#include "worker.h"

namespace usbscsi {
namespace {

struct EndpointRecord {
  uint8_t address, attributes;
  uint16_t maxPacketSize;
  int maxBurst = -1;
};
struct InterfaceRecord {
  uint8_t number, alternate, cls, subClass, protocol;
  std::vector<EndpointRecord> endpoints;
};
struct ConfigRecord {
  uint8_t value;
  std::vector<InterfaceRecord> interfaces;
};
struct DeviceRecord {
  uint16_t vendorId, productId;
  uint8_t bus, address;
  std::vector<uint8_t> ports;
  int speed;
  DeviceStrings strings;
  std::vector<ConfigRecord> configs;
};

const char* SpeedName(int speed) {
  switch (speed) {
    case LIBUSB_SPEED_LOW: return "low";
    case LIBUSB_SPEED_FULL: return "full";
    case LIBUSB_SPEED_HIGH: return "high";
    case LIBUSB_SPEED_SUPER: return "super";
#if defined(LIBUSB_API_VERSION) && LIBUSB_API_VERSION >= 0x01000106
    case LIBUSB_SPEED_SUPER_PLUS: return "super-plus";
#endif
    default: return "unknown";
  }
}

const char* TransferTypeName(uint8_t attributes) {
  switch (attributes & LIBUSB_TRANSFER_TYPE_MASK) {
    case LIBUSB_ENDPOINT_TRANSFER_TYPE_CONTROL: return "control";
    case LIBUSB_ENDPOINT_TRANSFER_TYPE_ISOCHRONOUS: return "isochronous";
    case LIBUSB_ENDPOINT_TRANSFER_TYPE_BULK: return "bulk";
    default: return "interrupt";
  }
}

ConfigRecord ReadConfig(libusb_context* ctx, const libusb_config_descriptor* cfg) {
  ConfigRecord rec{cfg->bConfigurationValue, {}};
  for (int i = 0; i < cfg->bNumInterfaces; ++i) {
    const libusb_interface& itf = cfg->interface[i];
    for (int a = 0; a < itf.num_altsetting; ++a) {
      const libusb_interface_descriptor& alt = itf.altsetting[a];
      InterfaceRecord ir{alt.bInterfaceNumber, alt.bAlternateSetting, alt.bInterfaceClass, alt.bInterfaceSubClass,
                         alt.bInterfaceProtocol, {}};
      for (int e = 0; e < alt.bNumEndpoints; ++e) {
        const libusb_endpoint_descriptor& ep = alt.endpoint[e];
        EndpointRecord er{ep.bEndpointAddress, ep.bmAttributes, ep.wMaxPacketSize, -1};
        libusb_ss_endpoint_companion_descriptor* comp = nullptr;
        if (libusb_get_ss_endpoint_companion_descriptor(ctx, &ep, &comp) == LIBUSB_SUCCESS && comp != nullptr) {
          er.maxBurst = comp->bMaxBurst;
          libusb_free_ss_endpoint_companion_descriptor(comp);
        }
        ir.endpoints.push_back(er);
      }
      rec.interfaces.push_back(std::move(ir));
    }
  }
  return rec;
}

void ReadStringsByOpening(Addon* addon, libusb_device* dev, const libusb_device_descriptor& desc, DeviceStrings& out) {
  if (!desc.iManufacturer && !desc.iProduct && !desc.iSerialNumber) return;
  // Open only for a moment, on this pool thread: the event pump must never poll this fd.
  std::lock_guard<std::mutex> transient(addon->TransientOpenMutex());
  libusb_device_handle* h = nullptr;
  if (libusb_open(dev, &h) != LIBUSB_SUCCESS) return;  // no permission: strings stay unknown
  auto read = [h](uint8_t index) -> std::optional<std::string> {
    if (index == 0) return std::nullopt;
    unsigned char buf[256];
    const int n = libusb_get_string_descriptor_ascii(h, index, buf, sizeof buf);
    if (n < 0) return std::nullopt;
    return std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
  };
  out.manufacturer = read(desc.iManufacturer);
  out.product = read(desc.iProduct);
  out.serialNumber = read(desc.iSerialNumber);
  libusb_close(h);
}

bool ReadDevice(Addon* addon, libusb_context* ctx, libusb_device* dev, DeviceRecord& rec) {
  libusb_device_descriptor desc;
  if (libusb_get_device_descriptor(dev, &desc) != LIBUSB_SUCCESS) return false;
  rec.vendorId = desc.idVendor;
  rec.productId = desc.idProduct;
  rec.bus = libusb_get_bus_number(dev);
  rec.address = libusb_get_device_address(dev);
  uint8_t ports[8];
  const int nports = libusb_get_port_numbers(dev, ports, sizeof ports);
  if (nports > 0) rec.ports.assign(ports, ports + nports);
  rec.speed = libusb_get_device_speed(dev);
  if (!PlatformDeviceStrings(rec.bus, rec.ports, rec.strings)) ReadStringsByOpening(addon, dev, desc, rec.strings);
  int activeValue = -1;
  libusb_config_descriptor* active = nullptr;
  if (libusb_get_active_config_descriptor(dev, &active) == LIBUSB_SUCCESS) {
    activeValue = active->bConfigurationValue;
    rec.configs.push_back(ReadConfig(ctx, active));
    libusb_free_config_descriptor(active);
  }
  for (uint8_t i = 0; i < desc.bNumConfigurations; ++i) {
    libusb_config_descriptor* cfg = nullptr;
    if (libusb_get_config_descriptor(dev, i, &cfg) != LIBUSB_SUCCESS) continue;
    if (cfg->bConfigurationValue != activeValue) rec.configs.push_back(ReadConfig(ctx, cfg));
    libusb_free_config_descriptor(cfg);
  }
  return true;
}

Napi::Object ToJs(Napi::Env env, const DeviceRecord& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("vendorId", d.vendorId);
  o.Set("productId", d.productId);
  o.Set("busNumber", d.bus);
  o.Set("deviceAddress", d.address);
  Napi::Array ports = Napi::Array::New(env, d.ports.size());
  for (size_t i = 0; i < d.ports.size(); ++i) ports.Set(static_cast<uint32_t>(i), d.ports[i]);
  o.Set("portNumbers", ports);
  o.Set("speed", SpeedName(d.speed));
  if (d.strings.manufacturer) o.Set("manufacturer", *d.strings.manufacturer);
  if (d.strings.product) o.Set("product", *d.strings.product);
  if (d.strings.serialNumber) o.Set("serialNumber", *d.strings.serialNumber);
  Napi::Array configs = Napi::Array::New(env, d.configs.size());
  for (size_t c = 0; c < d.configs.size(); ++c) {
    const ConfigRecord& cr = d.configs[c];
    Napi::Object co = Napi::Object::New(env);
    co.Set("configurationValue", cr.value);
    Napi::Array itfs = Napi::Array::New(env, cr.interfaces.size());
    for (size_t i = 0; i < cr.interfaces.size(); ++i) {
      const InterfaceRecord& ir = cr.interfaces[i];
      Napi::Object io = Napi::Object::New(env);
      io.Set("interfaceNumber", ir.number);
      io.Set("alternateSetting", ir.alternate);
      io.Set("interfaceClass", ir.cls);
      io.Set("interfaceSubClass", ir.subClass);
      io.Set("interfaceProtocol", ir.protocol);
      Napi::Array eps = Napi::Array::New(env, ir.endpoints.size());
      for (size_t e = 0; e < ir.endpoints.size(); ++e) {
        const EndpointRecord& er = ir.endpoints[e];
        Napi::Object eo = Napi::Object::New(env);
        eo.Set("address", er.address);
        eo.Set("transferType", TransferTypeName(er.attributes));
        eo.Set("maxPacketSize", er.maxPacketSize);
        if (er.maxBurst >= 0) eo.Set("maxBurst", er.maxBurst);
        eps.Set(static_cast<uint32_t>(e), eo);
      }
      io.Set("endpoints", eps);
      itfs.Set(static_cast<uint32_t>(i), io);
    }
    co.Set("interfaces", itfs);
    configs.Set(static_cast<uint32_t>(c), co);
  }
  o.Set("configurations", configs);
  return o;
}

}  // namespace

Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Addon* addon = Addon::Get(env);
  addon->EnsureContext(env);  // a failure rejects the promise below, from the worker
  auto records = std::make_shared<std::vector<DeviceRecord>>();
  auto* worker = new PromiseWorker(
      env, "usbscsi.list",
      [addon, records]() -> NativeError {
        if (addon->NoUsbOnThisMachine()) return {};  // no USB here: nothing to list
        NativeError error;
        libusb_context* ctx = addon->ContextOrError(error);
        if (ctx == nullptr) return error;
        libusb_device** list = nullptr;
        const ssize_t n = libusb_get_device_list(ctx, &list);
        if (n < 0) return FromLibusb(static_cast<int>(n), "list USB devices");
        for (ssize_t i = 0; i < n; ++i) {
          DeviceRecord rec;
          if (ReadDevice(addon, ctx, list[i], rec)) records->push_back(std::move(rec));
        }
        libusb_free_device_list(list, 1);
        return {};
      },
      [records](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, records->size());
        for (size_t i = 0; i < records->size(); ++i) out.Set(static_cast<uint32_t>(i), ToJs(env, (*records)[i]));
        return out;
      });
  return worker->Queue();
}

// open(busNumber, deviceAddress) -> Promise<DeviceHandle>
Napi::Value OpenDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t bus = static_cast<uint8_t>(U32(env, info[0], "busNumber", 0, 255));
  const uint8_t address = static_cast<uint8_t>(U32(env, info[1], "deviceAddress", 0, 255));
  Addon* addon = Addon::Get(env);
  addon->EnsureContext(env);
  auto opened = std::make_shared<libusb_device_handle*>(nullptr);
  auto* worker = new PromiseWorker(
      env, "usbscsi.open",
      [addon, bus, address, opened]() -> NativeError {
        if (addon->NoUsbOnThisMachine()) {
          NativeError gone = FromLibusb(LIBUSB_ERROR_NO_DEVICE, "open USB device");
          gone.message = "open USB device at bus " + std::to_string(bus) + " address " + std::to_string(address) +
                         ": no such device (this machine has no USB: neither /sys/bus/usb nor /dev/bus/usb exists)";
          return gone;
        }
        NativeError error;
        libusb_context* ctx = addon->ContextOrError(error);
        if (ctx == nullptr) return error;
        libusb_device** list = nullptr;
        const ssize_t n = libusb_get_device_list(ctx, &list);
        if (n < 0) return FromLibusb(static_cast<int>(n), "list USB devices");
        int rc = LIBUSB_ERROR_NO_DEVICE;
        for (ssize_t i = 0; i < n; ++i) {
          if (libusb_get_bus_number(list[i]) == bus && libusb_get_device_address(list[i]) == address) {
            rc = libusb_open(list[i], opened.get());
            break;
          }
        }
        libusb_free_device_list(list, 1);
        const std::string what =
            "open USB device at bus " + std::to_string(bus) + " address " + std::to_string(address);
        if (rc == LIBUSB_ERROR_NO_DEVICE || rc == LIBUSB_ERROR_NOT_FOUND) {
          NativeError gone = FromLibusb(LIBUSB_ERROR_NO_DEVICE, what);
          gone.message = what +
                         ": no such device (it left, or re-enumerated with a new address): "
                         "list devices and open it again.";
          return gone;
        }
        if (rc < 0) return FromLibusb(rc, what);
        return {};
      },
      [opened](Napi::Env env) -> Napi::Value { return NewDeviceHandle(env, *opened); });
  return worker->Queue();
}

}  // namespace usbscsi
