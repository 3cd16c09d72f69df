// Helpers shared by the MXNet operators of this folder: attribute parsing, type checks and
// the gradients MXNet does not ask for.
#ifndef GLUON_CONVATTN_MXNET_ATTRIBUTES_H_
#define GLUON_CONVATTN_MXNET_ATTRIBUTES_H_

#include <cctype>
#include <string>
#include <unordered_map>
#include <vector>

#include "mxnet/lib_api.h"

namespace gca {

typedef std::unordered_map<std::string, std::string> Attrs;

inline bool flag(const Attrs& attrs, const char* name) {
  auto it = attrs.find(name);
  return it != attrs.end() && (it->second == "1" || it->second == "True" || it->second == "true");
}

inline double number(const Attrs& attrs, const char* name, double fallback) {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : std::stod(it->second);
}

// the integers of an attribute such as "(3, 3)" or "2"
inline std::vector<int> integers(const Attrs& attrs, const char* name) {
  std::vector<int> values;
  auto it = attrs.find(name);
  if (it == attrs.end()) return values;
  const std::string& s = it->second;
  for (size_t i = 0; i < s.size();) {
    const bool negative = s[i] == '-' && i + 1 < s.size() &&
                          std::isdigit(static_cast<unsigned char>(s[i + 1]));
    if (std::isdigit(static_cast<unsigned char>(s[i])) || negative) {
      size_t used = 0;
      values.push_back(std::stoi(s.substr(i), &used));
      i += used;
    } else {
      ++i;
    }
  }
  return values;
}

// the parse function of an operator with In inputs and Out outputs and no attribute to check
template <int In, int Out>
mxnet::ext::MXReturnValue arity(const Attrs& attrs, int* num_in, int* num_out) {
  *num_in = In;
  *num_out = Out;
  return mxnet::ext::MX_SUCCESS;
}

// a gradient MXNet does not need arrives without memory: the kernels skip it
template <typename T>
T* maybe(std::vector<mxnet::ext::MXTensor>* outputs, size_t i) {
  if (i >= outputs->size() || (*outputs)[i].data_ptr == nullptr || (*outputs)[i].size() == 0)
    return nullptr;
  return (*outputs)[i].data<T>();
}

inline mxnet::ext::MXReturnValue same_float_types(const char* op, std::vector<int>* in_types,
                                                  std::vector<int>* out_types) {
  const int t = (*in_types)[0];
  if (t != mxnet::ext::kFloat32 && t != mxnet::ext::kFloat64) {
    MX_ERROR_MSG << op << ": float32 or float64 inputs only (got MXNet type code " << t
                 << "); set GLUON_CONVATTN_MXNET_OPS=0 and hybridize again to use the CustomOps";
    return mxnet::ext::MX_FAIL;
  }
  for (auto& v : *in_types) v = t;
  for (auto& v : *out_types) v = t;
  return mxnet::ext::MX_SUCCESS;
}

}  // namespace gca

#endif  // GLUON_CONVATTN_MXNET_ATTRIBUTES_H_
